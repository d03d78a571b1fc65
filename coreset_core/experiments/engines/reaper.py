"""A watchdog that takes a driver's private Ray instance down with the driver, also on SIGKILL.

Ray's own fate-sharing stops the raylet and the GCS when the driver that started them dies,
but their agents (dashboard agent, runtime-env agent) can outlive them by minutes on a
busy machine. So before starting a local instance the driver marks its environment with a
unique token (every Ray process inherits it) and starts this small process with a pipe on
its stdin. When the driver's process is gone (exited, crashed or killed) or the pipe closes
(a normal shutdown), the watchdog SIGKILLs every process that carries the token, until none
is left, then exits.

Linux only (it reads /proc); elsewhere `start_reaper` does nothing and Ray's own clean-up
applies.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from coreset_core.processes import alive, descendants, process_stat, processes_with_env

#: The environment variable holding the token of a driver's private Ray instance.
TOKEN_VAR = "CORESET_RAY_OWNER"
#: How long the watchdog keeps killing newly found processes after the driver is gone (Ray agents
#: have been seen to start late while their raylet dies).
REAP_SECONDS = 5.0


def marked_processes(token: str) -> list[int]:
    """Pids of the live processes (not this one) whose environment has TOKEN_VAR=token."""
    return processes_with_env(TOKEN_VAR, token)


def reap(token: str, seconds: float = REAP_SECONDS) -> int:
    """SIGKILL every marked process, scanning for `seconds`: a dying raylet can still start an agent
    after the first scan, so the watchdog keeps looking for the whole window, not until one empty scan."""
    killed, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        for pid in marked_processes(token):
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.25)
    return killed


def start_reaper() -> subprocess.Popen | None:
    """Mark this process's environment with a new token and start the watchdog (Linux; else None).

    Call it right before starting a private Ray instance, so that all its processes inherit
    the mark. Keep the returned process referenced: closing its stdin (`stop_reaper`, or the
    driver's death) sets it off.
    """
    if not sys.platform.startswith("linux"):
        return None
    token = uuid.uuid4().hex
    os.environ[TOKEN_VAR] = token
    env = {k: v for k, v in os.environ.items() if k != TOKEN_VAR}  # the watchdog must not reap itself
    return subprocess.Popen([sys.executable, "-m", "coreset_core.experiments.engines.reaper", token, str(os.getpid())],
                            stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def stop_reaper(reaper: subprocess.Popen | None) -> None:
    """After a normal shutdown: let the watchdog sweep up stragglers now (and not wait for it)."""
    os.environ.pop(TOKEN_VAR, None)
    if reaper is not None and reaper.stdin is not None:
        try:
            reaper.stdin.close()
        except OSError:
            pass


def _wait_for_driver(driver: int) -> set[tuple[int, int]]:
    """Return, when the driver is gone or closed our stdin, every process it started meanwhile.

    The driver's pid is watched as well as the pipe (a Ray process that inherited the pipe's
    write end would keep it open), and its process tree is recorded as it grows: Ray starts its
    agents with an environment of its own, so they do not all carry the token.
    """
    import select

    seen: set[tuple[int, int]] = set()
    while alive(driver):
        seen |= descendants(driver)
        ready, _, _ = select.select([sys.stdin.buffer], [], [], 0.2)
        if ready and not os.read(sys.stdin.buffer.fileno(), 4096):
            break
    return seen


def _kill_recorded(seen: set[tuple[int, int]]) -> None:
    """SIGKILL the recorded processes that still run (same pid and start time: never a reused pid)."""
    for pid, start in seen:
        stat = process_stat(pid)
        if stat is not None and stat[2] == start and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


def main(token: str, driver: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the driver must not stop the watchdog
    seen: set[tuple[int, int]] = set()
    try:
        seen = _wait_for_driver(driver)
    except OSError:
        pass
    _kill_recorded(seen)
    reap(token)


if __name__ == "__main__":  # pragma: no cover  (runs as the watchdog process)
    main(sys.argv[1], int(sys.argv[2]))
