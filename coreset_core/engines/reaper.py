"""A watchdog that takes a driver's private Ray instance down with the driver, also on SIGKILL.

Ray's own fate-sharing stops the raylet and the GCS when the driver that started them dies,
but their agents (dashboard agent, runtime-env agent) can outlive them by minutes on a
busy machine. So before starting a local instance the driver marks its environment with a
unique token (every Ray process inherits it) and starts this small process with a pipe on
its stdin. When the pipe closes (the driver exited, crashed or was killed), the watchdog
SIGKILLs every process that carries the token, until none is left, then exits.

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

#: The environment variable holding the token of a driver's private Ray instance.
TOKEN_VAR = "CORESET_RAY_OWNER"
#: How long the watchdog keeps killing newly found processes after the driver is gone.
REAP_SECONDS = 15.0


def marked_processes(token: str) -> list[int]:
    """Pids of the live processes (not this one, not zombies) whose environment has TOKEN_VAR=token."""
    needle = f"{TOKEN_VAR}={token}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if needle not in fh.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/stat", "rb") as fh:
                if fh.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    continue
        except OSError:
            continue
        pids.append(int(entry))
    return pids


def reap(token: str, seconds: float = REAP_SECONDS) -> int:
    """SIGKILL every marked process until none has been seen twice in a row (or `seconds` passed)."""
    killed, quiet, deadline = 0, 0, time.monotonic() + seconds
    while quiet < 2 and time.monotonic() < deadline:
        pids = marked_processes(token)
        quiet = 0 if pids else quiet + 1
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except OSError:
                pass
        time.sleep(0.2)
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
    return subprocess.Popen([sys.executable, "-m", "coreset_core.engines.reaper", token], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def stop_reaper(reaper: subprocess.Popen | None) -> None:
    """After a normal shutdown: let the watchdog sweep up stragglers now (and not wait for it)."""
    os.environ.pop(TOKEN_VAR, None)
    if reaper is not None and reaper.stdin is not None:
        try:
            reaper.stdin.close()
        except OSError:
            pass


def main(token: str) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C meant for the driver must not stop the watchdog
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except OSError:
        pass
    reap(token)


if __name__ == "__main__":  # pragma: no cover  (runs as the watchdog process)
    main(sys.argv[1])
