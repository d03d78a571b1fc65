"""One background job at a time with a cooperative cancel (issue 16), with real threads."""
from __future__ import annotations

import threading
import time

import pytest

from coreset_studio.jobs import JobBusy, JobSlot, shared_slot


def _steps(n: int, gate: threading.Event | None = None, log: list | None = None):
    """A job of `n` steps; each step waits for `gate` (when given) so the test controls the pace."""
    def job(ctx):
        for i in range(n):
            if gate is not None:
                assert gate.wait(10), "the test never opened the gate"
            if log is not None:
                log.append(i)
            ctx.progress(i + 1, n, f"step {i + 1}")
        return sum(range(n))
    return job


def test_a_job_runs_in_the_background_and_reports_progress():
    slot = JobSlot("sweep")
    gate = threading.Event()
    slot.start(_steps(5, gate), name="sweep of 5")
    status = slot.status()
    assert status.running and status.name == "sweep of 5" and status.done == 0
    assert threading.current_thread() is threading.main_thread()  # start() returned while the job waits
    gate.set()
    status = slot.wait(10)
    assert status.state == "done" and status.result == 0 + 1 + 2 + 3 + 4
    assert (status.done, status.total, status.fraction, status.message) == (5, 5, 1.0, "step 5")
    assert status.finished >= status.started and "done" in status.describe()


def test_a_second_start_is_refused_while_one_runs():
    slot = JobSlot("sweep")
    gate = threading.Event()
    slot.start(_steps(3, gate), name="first")
    try:
        with pytest.raises(JobBusy, match=r"a sweep is already running \(first, started .*\); cancel it or wait"):
            slot.start(_steps(1), name="second")
        # the refusal did not disturb the running job
        assert slot.status().name == "first" and slot.running
    finally:
        gate.set()
    assert slot.wait(10).state == "done"
    slot.start(_steps(2), name="second")  # free again once the first finished
    assert slot.wait(10).result == 1


def test_racing_starts_from_many_threads_start_exactly_one_job():
    slot = JobSlot("sweep")
    gate = threading.Event()
    started, refused = [], []
    barrier = threading.Barrier(8)

    def tab(i):
        barrier.wait()
        try:
            slot.start(_steps(1, gate), name=f"tab {i}")
            started.append(i)
        except JobBusy:
            refused.append(i)

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    gate.set()
    assert len(started) == 1 and len(refused) == 7
    assert slot.wait(10).name == f"tab {started[0]}"


def test_cancel_stops_the_job_at_its_next_progress_report():
    slot = JobSlot("sweep")
    tickets, log = threading.Semaphore(0), []

    def job(ctx):  # one step per ticket the test hands out
        for i in range(100):
            assert tickets.acquire(timeout=10), "the test never handed out the ticket"
            log.append(i)
            ctx.progress(i + 1, 100)

    slot.start(job)
    for _ in range(3):
        tickets.release()
    deadline = time.monotonic() + 10
    while slot.status().done < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert slot.status().done == 3 and slot.running  # waiting for ticket 4
    assert slot.cancel() is True
    assert slot.status().cancel_requested and "cancelling" in slot.status().describe()
    tickets.release()  # step 4 (the one in flight) runs, then its progress report stops the job
    status = slot.wait(10)
    assert status.state == "cancelled" and status.result is None
    assert log == [0, 1, 2, 3] and status.done == 4
    assert slot.cancel() is False  # nothing runs any more
    slot.start(_steps(2))  # and the slot is free for the next sweep
    assert slot.wait(10).state == "done"


def test_a_job_that_returns_on_its_own_after_cancel_counts_as_cancelled():
    slot = JobSlot("sweep")
    gate = threading.Event()

    def polite(ctx):
        assert gate.wait(10)
        return "partial" if ctx.cancelled else "all"

    slot.start(polite)
    slot.cancel()
    gate.set()
    status = slot.wait(10)
    assert (status.state, status.result) == ("cancelled", "partial")


def test_a_failing_job_is_reported_with_its_error_and_frees_the_slot():
    slot = JobSlot("sweep")

    def broken(ctx):
        ctx.progress(1, 4)
        raise ValueError("unknown method 'nope'")

    slot.start(broken)
    status = slot.wait(10)
    assert status.state == "failed" and status.error == "ValueError: unknown method 'nope'"
    assert "Traceback" in status.details and status.done == 1
    assert "failed" in status.describe() and not slot.running


def test_start_needs_a_callable_and_shared_slot_is_one_per_process():
    with pytest.raises(ValueError, match="callable"):
        JobSlot().start("run everything")
    assert shared_slot("sweep") is shared_slot("sweep")
    assert shared_slot("sweep") is not shared_slot("export")
    assert JobSlot().status().describe() == "no job has run yet"
