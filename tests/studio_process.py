"""Helpers for tests that start a real studio: free ports, the kernel's socket and process tables."""
from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from coreset_core import processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _hex_address(text: str) -> str:
    """/proc/net/tcp{,6} address ("0100007F" or 32 hex digits, 32-bit words in host order) as text."""
    raw = bytes.fromhex(text)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # little-endian words (x86, arm)
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, words)


def listening(port: int) -> list[tuple[str, int]]:
    """(address, socket inode) of every socket listening on TCP `port`, from the kernel's tables."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            addr, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = LISTEN
                found.append((_hex_address(addr), int(fields[9])))
    return found


def socket_owners(inode: int) -> set[int]:
    """PIDs holding the socket with this inode open."""
    owners = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fd_dir.iterdir()):
                owners.add(int(fd_dir.parent.name))
        except OSError:  # a process that ended or is not ours
            continue
    return owners


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (children, grandchildren, ...), read as the Ray watchdog reads them."""
    return {child for child, _ in processes.descendants(pid)}


def wait_health(url: str, proc: subprocess.Popen, log: Path, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the studio exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return r
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")
