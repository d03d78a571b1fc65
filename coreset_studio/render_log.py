"""Server compute time of every studio page rerun (for the sidebar, the logs and the tests)."""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np

log = logging.getLogger("coreset_studio")


@dataclass
class RenderRecord:
    page: str
    ms: float
    at: float = field(default_factory=time.time)


class RenderLog:
    """Thread-safe ring buffer of per-rerun server compute times (milliseconds) per page."""

    def __init__(self, maxlen: int = 2000):
        self._records: deque[RenderRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def add(self, page: str, ms: float) -> None:
        with self._lock:
            self._records.append(RenderRecord(page, float(ms)))

    def records(self, page: str | None = None) -> list[RenderRecord]:
        with self._lock:
            return [r for r in self._records if page is None or r.page == page]

    def last(self, page: str | None = None) -> float | None:
        recs = self.records(page)
        return recs[-1].ms if recs else None

    def summary(self, page: str | None = None) -> dict[str, float]:
        ms = np.array([r.ms for r in self.records(page)])
        if ms.size == 0:
            return {"n": 0}
        return {"n": int(ms.size), "median_ms": float(np.median(ms)), "max_ms": float(ms.max()),
                "last_ms": float(ms[-1])}


#: Every page rerun of this process (read by tests and the timing benchmark).
RENDER_LOG = RenderLog()


@contextmanager
def profiled(name: str, folder: str | os.PathLike | None = None) -> Iterator[None]:
    """With `folder` (e.g. CORESET_STUDIO_PROFILE), write a cProfile file `<name>-<time>.prof` of the body
    there (developer aid for performance work); without, do nothing."""
    if not folder:
        yield
        return
    import cProfile
    from pathlib import Path

    with cProfile.Profile() as prof:
        yield
    Path(folder).mkdir(parents=True, exist_ok=True)
    prof.dump_stats(Path(folder) / f"{name}-{time.time():.3f}.prof")


@contextmanager
def timed(page: str, render_log: RenderLog = RENDER_LOG) -> Iterator[dict[str, float]]:
    """Time a page script body; records it in `render_log` and logs `render page=... ms=...`.
    With `CORESET_STUDIO_TIMING=1` the line also goes to stderr (the server log)."""
    out: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield out
    finally:
        ms = (time.perf_counter() - start) * 1000.0
        out["ms"] = ms
        render_log.add(page, ms)
        line = f"render page={page} ms={ms:.1f}"
        log.info(line)
        if os.environ.get("CORESET_STUDIO_TIMING", "") not in ("", "0"):
            print(f"[coreset-studio] {line}", file=sys.stderr, flush=True)
