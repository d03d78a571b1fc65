"""`--engine ray --address` that cannot work: refused quickly with the address named, and a
driver that is still connecting stops within 5 s of SIGTERM or Ctrl-C (issue 20, item 5).

No Ray cluster is started here: a port where nothing listens, and a TCP server that accepts
connections but never answers as Ray (what a wrong port or a hung head node looks like).
"""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from sweep_helpers import as_from_a_terminal

pytest.importorskip("ray")

SWEEP = ["sweep", "--engine", "ray", "--dataset", "digits", "--methods", "random", "--prune-rates", "0.5",
         "--seeds", "0", "--quiet"]
FEATURES = ["features", "--engine", "ray", "--dataset", "digits", "--resolution", "32", "--limit", "64", "--quiet"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: nothing listens there


class SilentServer:
    """Accepts TCP connections on every interface and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("0.0.0.0", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepted = threading.Event()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.conns:
            conn.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


@pytest.mark.parametrize("command", [SWEEP, FEATURES], ids=["sweep", "features"])
def test_nothing_listening_is_refused_at_once_with_the_address(command, tmp_path):
    address = f"127.0.0.1:{_closed_port()}"
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "coreset_core.cli", *command, "--address", address,
                          "--cache-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and time.monotonic() - t0 < 30
    assert f"no Ray cluster at {address} (connection refused: nothing listens there)" in out.stderr
    assert "ray start --head" in out.stderr


def test_a_malformed_address_is_refused_with_the_form_expected():
    from coreset_core.experiments.engines.ray import check_reachable

    with pytest.raises(ValueError, match="must read HOST:PORT"):
        check_reachable("headnode")
    with pytest.raises(ValueError, match="must read HOST:PORT"):
        check_reachable("10.0.0.1:99999")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_driver_that_is_connecting_stops_within_5_s(sig, silent_server, tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "coreset_core.cli", *SWEEP, "--address",
                             f"127.0.0.1:{silent_server.port}", "--db", str(tmp_path / "r.sqlite"),
                             "--cache-dir", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=as_from_a_terminal)
    try:
        assert silent_server.accepted.wait(120), "the driver never tried to connect"
        time.sleep(1.0)  # the TCP check passed; ray.init is now retrying against a server that never answers
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(sig)
        proc.wait(timeout=30)
        assert time.monotonic() - sent < 5.0
        assert proc.returncode != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_a_port_that_never_answers_as_ray_is_given_up_within_30_s(silent_server, tmp_path):
    address = f"127.0.0.1:{silent_server.port}"
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "coreset_core.cli", *SWEEP, "--address", address,
                          "--db", str(tmp_path / "r.sqlite"), "--cache-dir", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert time.monotonic() - t0 < 30  # 15 s of waiting plus the CLI start-up
    assert f"the Ray cluster at {address} did not let this driver in within 15 s" in out.stderr
    assert "RAY_AUTH_MODE=token" in out.stderr
