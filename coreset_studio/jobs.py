"""One background job at a time (the studio's sweeps), with progress and a cooperative cancel.

A `JobSlot` runs a callable in a daemon thread and refuses a second `start()` while the first
runs, so a studio process never runs two sweeps at once however many browser tabs ask.
The callable receives a `JobContext`: it reports progress with `ctx.progress(done, total)`,
which also raises `Cancelled` once `cancel()` was called, so a sweep stops at its next
progress report (wire it as `run_sweep(..., on_progress=lambda d, t, _: ctx.progress(d, t))`;
the run in flight finishes first). `shared_slot(name)` gives the one slot per process that
every page (and every session) of a studio uses. No streamlit here: pages only show `status()`.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable

#: The states a job goes through: idle -> running -> done | failed | cancelled.
STATES = ("idle", "running", "done", "failed", "cancelled")


class Cancelled(Exception):
    """Raised inside a job by `JobContext.progress` / `check` after `JobSlot.cancel()`."""


class JobBusy(RuntimeError):
    """`JobSlot.start()` while a job runs; the message says which job and since when."""


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of a slot: what runs or ran, how far it got, and how it ended."""

    state: str = "idle"
    name: str = ""
    started: float | None = None  # time.time()
    finished: float | None = None
    done: int = 0
    total: int | None = None
    message: str = ""
    cancel_requested: bool = False
    result: Any = None
    error: str | None = None  # the exception's one-line summary when state == "failed"
    details: str | None = field(default=None, repr=False)  # its traceback

    @property
    def running(self) -> bool:
        return self.state == "running"

    @property
    def fraction(self) -> float | None:
        """done / total in [0, 1], or None while the total is unknown."""
        return None if not self.total else min(1.0, self.done / self.total)

    @property
    def elapsed(self) -> float:
        """Seconds since the start (until the end for a finished job)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    def describe(self) -> str:
        """One line for the page, e.g. "sweep running: 3/20 runs, 41 s"."""
        if self.state == "idle":
            return "no job has run yet"
        count = f"{self.done}/{self.total}" if self.total else f"{self.done}"
        extra = f" ({self.message})" if self.message else ""
        if self.state == "running" and self.cancel_requested:
            return f"{self.name} cancelling after the current step: {count} done, {self.elapsed:.0f} s{extra}"
        tail = f": {self.error}" if self.state == "failed" else ""
        return f"{self.name} {self.state}: {count} done, {self.elapsed:.0f} s{extra}{tail}"


class JobContext:
    """What a running job sees: progress reporting and the cancel flag."""

    def __init__(self, slot: "JobSlot", cancel_event: threading.Event) -> None:
        self._slot = slot
        self._cancel = cancel_event

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        """Raise `Cancelled` when a cancel was requested (call it between steps)."""
        if self._cancel.is_set():
            raise Cancelled("cancelled on request")

    def progress(self, done: int, total: int | None = None, message: str = "") -> None:
        """Record progress, then `check()`."""
        self._slot._update(done=int(done), total=None if total is None else int(total), message=str(message))
        self.check()


class JobSlot:
    """Runs at most one job at a time in a background thread (see the module docstring)."""

    def __init__(self, kind: str = "job") -> None:
        self.kind = kind
        self._lock = threading.Lock()
        self._status = JobStatus()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()

    def start(self, fn: Callable[[JobContext], Any], *, name: str | None = None, total: int | None = None) -> None:
        """Run `fn(ctx)` in the background; raises JobBusy while another job of this slot runs."""
        if not callable(fn):
            raise ValueError(f"start() needs a callable taking a JobContext, got {type(fn).__name__}")
        with self._lock:
            if self._status.running:
                current = self._status
                since = time.strftime("%H:%M:%S", time.localtime(current.started))
                progress = f"{current.done}/{current.total}" if current.total else f"{current.done}"
                raise JobBusy(f"a {self.kind} is already running ({current.name}, started {since}, "
                              f"{progress} done); cancel it or wait for it to finish")
            self._cancel = threading.Event()
            self._status = JobStatus(state="running", name=name or self.kind, started=time.time(), total=total)
            ctx = JobContext(self, self._cancel)
            self._thread = threading.Thread(target=self._run, args=(fn, ctx), name=f"{self.kind}-job", daemon=True)
            self._thread.start()

    def _run(self, fn: Callable[[JobContext], Any], ctx: JobContext) -> None:
        try:
            result = fn(ctx)
        except Cancelled:
            self._update(state="cancelled", finished=time.time())
        except BaseException as exc:  # noqa: BLE001 - a failed job is reported, never lost
            self._update(state="failed", finished=time.time(), error=f"{type(exc).__name__}: {exc}",
                         details=traceback.format_exc())
        else:
            state = "cancelled" if self._cancel.is_set() else "done"
            self._update(state=state, finished=time.time(), result=result)

    def _update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)

    def cancel(self) -> bool:
        """Ask the running job to stop at its next progress report; False when none runs."""
        with self._lock:
            if not self._status.running:
                return False
            self._cancel.set()
            self._status = replace(self._status, cancel_requested=True)
            return True

    def status(self) -> JobStatus:
        """A consistent snapshot (safe to read from any thread)."""
        with self._lock:
            return self._status

    @property
    def running(self) -> bool:
        return self.status().running

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the current job ends (or `timeout` seconds pass); returns the status."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return self.status()


_SHARED: dict[str, JobSlot] = {}
_SHARED_LOCK = threading.Lock()


def shared_slot(kind: str = "sweep") -> JobSlot:
    """The one slot of this kind in this process: every studio page and session gets the same."""
    with _SHARED_LOCK:
        if kind not in _SHARED:
            _SHARED[kind] = JobSlot(kind)
        return _SHARED[kind]
