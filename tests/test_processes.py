"""`coreset_core.processes`: the /proc census the Ray watchdog and the process-leak tests share."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from coreset_core import processes

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")

#: A parent that starts one child (same environment) and prints the child's pid, then both sleep.
_FAMILY = ("import subprocess, sys, time\n"
           "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
           "print(child.pid, flush=True)\n"
           "time.sleep(60)\n")


def _wait(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def test_a_marked_family_is_found_by_its_mark_and_by_its_parent_and_a_zombie_counts_as_gone():
    mark = uuid.uuid4().hex
    parent = subprocess.Popen([sys.executable, "-c", _FAMILY], env={**os.environ, "CORESET_TEST_MARK": mark},
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert sorted(processes.processes_with_env("CORESET_TEST_MARK", mark)) == sorted([parent.pid, child])
        assert processes.processes_with_env("CORESET_TEST_MARK", "another mark") == []
        assert processes.has_env(child, "CORESET_TEST_MARK", mark) and not processes.has_env(os.getpid(),
                                                                                              "CORESET_TEST_MARK", mark)
        below = processes.descendants(os.getpid())
        assert {pid for pid, _ in below} >= {parent.pid, child}
        assert {pid for pid, _ in processes.descendants(parent.pid)} == {child}
        state, ppid, start = processes.process_stat(child)
        assert ppid == parent.pid and (child, start) in below and state in "RSD"
        os.kill(child, signal.SIGKILL)  # the parent does not wait for it: a zombie, which counts as gone
        assert _wait(lambda: not processes.alive(child))
        assert processes.process_stat(child)[0] == "Z"
        assert processes.processes_with_env("CORESET_TEST_MARK", mark) == [parent.pid]
    finally:
        parent.kill()
        parent.wait()
    assert not processes.alive(parent.pid) and processes.process_stat(parent.pid) is None
    assert processes.descendants(parent.pid) == set()
