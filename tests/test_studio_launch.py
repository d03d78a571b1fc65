"""`coreset-studio` is safe by default (issue 16): it listens on loopback only unless `--host`
says otherwise (with a warning), keeps XSRF protection, and stopping its PID stops the server.

The live tests start the real studio (digits, a temporary cache), read the kernel's socket
table (/proc/net/tcp, tcp6) for the listening address, and send the stop signal to the
launcher's PID only (not its process group), as `kill PID` does.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from studio_process import descendants, free_port, listening, socket_owners, wait_health

from coreset_core.processes import alive
from coreset_studio import launcher as studio

ROOT = Path(__file__).resolve().parents[1]
linux_only = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc socket tables")


# ---------------------------------------------------------------- command line (no server)

def test_default_host_is_loopback_and_extra_arguments_pass_through():
    host, extra = studio.parse_args(["--server.port", "8502", "--theme.base", "dark"])
    assert host == "127.0.0.1" and extra == ["--server.port", "8502", "--theme.base", "dark"]
    cmd = studio.streamlit_command(Path("/x/app.py"), host, extra)
    assert cmd[:5] == [sys.executable, "-m", "streamlit", "run", "/x/app.py"]
    flags = dict(zip(cmd[5::2], cmd[6::2]))
    assert flags["--server.address"] == "127.0.0.1"
    assert flags["--server.enableXsrfProtection"] == "true" and flags["--server.enableCORS"] == "true"
    assert cmd[-4:] == extra  # the user's own arguments come last, so they win


@pytest.mark.parametrize("argv, host", [
    (["--host", "0.0.0.0"], "0.0.0.0"),
    (["--host=::"], "::"),
    (["--server.address", "10.1.2.3", "--server.port", "1"], "10.1.2.3"),
    (["--server.address=localhost"], "localhost"),
])
def test_host_option_and_streamlits_own_address_flag(argv, host):
    got, extra = studio.parse_args(argv)
    assert got == host and not any(a.startswith("--server.address") for a in extra)


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("studio.example.org", False),
])
def test_is_loopback(host, loopback):
    assert studio.is_loopback(host) is loopback


def _exec_call(monkeypatch, argv):
    """main(argv) up to the exec of streamlit; returns the command it would run."""
    class Exec(Exception):
        pass

    def fake_execve(path, args, env):
        raise Exec(path, args, env)

    monkeypatch.setattr(os, "name", "posix")
    monkeypatch.setattr(os, "execve", fake_execve)
    with pytest.raises(Exec) as call:
        studio.main(argv)
    return call.value.args


def test_sharing_prints_a_warning_and_localhost_does_not(monkeypatch, capsys):
    _, args, env = _exec_call(monkeypatch, ["--host", "0.0.0.0", "--server.port", "9999"])
    err = capsys.readouterr().err
    assert "WARNING" in err and "no login" in err and "proxy" in err and "0.0.0.0" in err
    assert args[args.index("--server.address") + 1] == "0.0.0.0"
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"
    _exec_call(monkeypatch, [])
    assert capsys.readouterr().err == ""
    _exec_call(monkeypatch, ["--server.enableXsrfProtection", "false"])
    assert "XSRF" in capsys.readouterr().err


def test_find_app_is_the_packages_app():
    assert studio.find_app() == ROOT / "coreset_studio" / "app.py"


# ---------------------------------------------------------------- a real studio

def start(cmd: list[str], tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    env = {**os.environ, "CORESET_STUDIO_DATASET": "digits", "CORESET_CACHE_DIR": str(tmp_path / "cache")}
    log = tmp_path / "studio.log"
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # its own group: the test kills only what it names
    return proc, log


def stop_and_check(proc: subprocess.Popen, port: int, sig: int, log: Path) -> None:
    """Send `sig` to the launcher PID only; the server, its port and every process below it must go."""
    below = descendants(proc.pid)
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None or any(alive(p) for p in below):  # clean up whatever the check failed on
            os.killpg(proc.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while (listening(port) or any(alive(p) for p in below)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert listening(port) == [], f"port {port} still open after stopping:\n{log.read_text()[-2000:]}"
    assert [p for p in below if alive(p)] == [], "a child of the launcher is still running"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def launcher() -> list[str]:
    exe = shutil.which("coreset-studio")
    return [exe] if exe else [sys.executable, "-m", "coreset_studio.launcher"]


@linux_only
@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_started_studio_listens_on_loopback_only_and_dies_with_its_pid(tmp_path, sig):
    port = free_port()
    proc, log = start(launcher() + ["--server.port", str(port), "--server.fileWatcherType", "none"], tmp_path)
    try:
        health = wait_health(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        # XSRF protection on: the server hands out its XSRF cookie
        assert "_streamlit_xsrf" in (health.headers.get("Set-Cookie") or "")
        # CORS on: a foreign web site's origin is not allowed to read answers
        req = urllib.request.Request(f"http://127.0.0.1:{port}/_stcore/health",
                                     headers={"Origin": "http://evil.example"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers.get("Access-Control-Allow-Origin") not in ("*", "http://evil.example")
        sockets = listening(port)
        assert sockets and all(addr == "127.0.0.1" for addr, _ in sockets), sockets
        # the launcher's own PID serves (it became streamlit): `kill PID` reaches the server itself
        assert {owner for _, inode in sockets for owner in socket_owners(inode)} == {proc.pid}
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    stop_and_check(proc, port, sig, log)


@linux_only
@pytest.mark.timeout(120)
def test_without_exec_the_launcher_forwards_the_stop_signal_to_its_child(tmp_path):
    """The path for systems without exec (Windows): a child process, and SIGTERM passed on to it."""
    port = free_port()
    code = ("import os, sys\nfrom coreset_studio import launcher as studio\n"
            f"cmd = studio.streamlit_command(studio.find_app(), '127.0.0.1', ['--server.port', '{port}'])\n"
            "sys.exit(studio._run_child(cmd, dict(os.environ)))\n")
    proc, log = start([sys.executable, "-c", code], tmp_path)
    try:
        wait_health(f"http://127.0.0.1:{port}/_stcore/health", proc, log)
        assert len(descendants(proc.pid)) >= 1  # here the server is a child
        assert all(addr == "127.0.0.1" for addr, _ in listening(port))
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    stop_and_check(proc, port, signal.SIGTERM, log)
