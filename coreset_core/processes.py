"""The process table of Linux's /proc: which processes run, their parents, their environment.

The Ray watchdog (`experiments.engines.reaper`) finds and kills what a driver leaves behind
with it, and the tests that check "no process is left behind" count processes with it, so
both read the table the same way. A zombie (dead, not yet waited for) counts as gone: it
holds no memory and its parent reaps it. Linux only: elsewhere every function finds nothing.
"""
from __future__ import annotations

import os


def process_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time in clock ticks) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()  # the name in (...) may hold spaces and ')'
    except OSError:
        return None
    return fields[0].decode(), int(fields[1]), int(fields[19])


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie counts as gone)."""
    stat = process_stat(pid)
    return stat is not None and stat[0] != "Z"


def _pids() -> list[int]:
    try:
        return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:  # no /proc (not Linux)
        return []


def has_env(pid: int, name: str, value: str) -> bool:
    """Whether process `pid` started with `name=value` in its environment (False when unreadable)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return f"{name}={value}".encode() in fh.read().split(b"\0")
    except OSError:
        return False


def processes_with_env(name: str, value: str) -> list[int]:
    """Pids of the live processes, this one excepted, whose environment holds `name=value` (children
    inherit their parent's environment, so a mark set before starting them finds the whole family)."""
    me = os.getpid()
    return [pid for pid in _pids() if pid != me and has_env(pid, name, value) and alive(pid)]


def descendants(root: int) -> set[tuple[int, int]]:
    """(pid, start time) of every live descendant of `root` (children, grandchildren, ...); the start
    time tells a process from a later one that got its pid again."""
    children: dict[int, list[tuple[int, int]]] = {}
    for pid in _pids():
        stat = process_stat(pid)
        if stat is not None and stat[0] != "Z":
            children.setdefault(stat[1], []).append((pid, stat[2]))
    found: set[tuple[int, int]] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child[0])
    return found


__all__ = ["alive", "descendants", "has_env", "process_stat", "processes_with_env"]
