"""`--engine ray --address` against a real two-node Ray cluster on this machine.

The cluster is started the way docs/cluster.md says: `ray start --head` with token
authentication, then a second `ray start --address` node with its own resources (local
processes, loopback address). The commands run as a user runs them (the `coreset` CLI in
subprocesses): the sweep's rows and the extraction's report name both nodes, the cluster is
still running and healthy afterwards, a killed worker node's runs are retried on the other
node without a duplicate, and a SIGTERMed driver stops within 5 s.

Teardown kills the cluster's processes by pid (every one carries this test's tag in its
environment), not with `ray stop`, which would stop every Ray instance of this user.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sweep_helpers import TAG_VAR, linux_only, tagged_processes, wait_until_gone, write_digits_embeddings

from coreset_core.experiments.store import ResultsStore
from coreset_core.processes import has_env

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600),
              pytest.mark.skipif(linux_only() is not None, reason=str(linux_only()))]

REPO = Path(__file__).resolve().parents[1]
#: Marks the second node's processes (so that the test can kill that node alone).
NODE_VAR = "CORESET_TEST_RAY_NODE"
#: Ray's health checks, faster than the defaults, so a killed node is declared dead in seconds.
FAST_HEALTH = {"RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "4",
               "RAY_health_check_initial_delay_ms": "1000"}


@dataclass
class Cluster:
    address: str
    env: dict[str, str]
    tag: str
    root: Path
    a: str = ""  #: node id of the head (resource node_a)
    b: str = ""  #: node id of the second node (resource node_b)

    def nodes(self) -> dict[str, dict]:
        """node id -> {alive, resources}, asked of the cluster by a fresh driver (as a user would)."""
        code = ("import json, ray; ray.init(address=%r, log_to_driver=False); "
                "print('NODES ' + json.dumps({n['NodeID']: {'alive': n['Alive'], 'resources': n['Resources']} "
                "for n in ray.nodes()}))" % self.address)
        out = subprocess.run([sys.executable, "-c", code], env=self.env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        # Ray may print its own lines (e.g. about a dead node) around ours: take the marked one
        (line,) = [ln for ln in out.stdout.splitlines() if ln.startswith("NODES ")]
        return json.loads(line[len("NODES "):])

    def sweep(self, folder: Path, methods: str, rates: str, seeds: str, epochs: int, *extra: str,
              extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
        """`coreset sweep --engine ray --address ...` on digits (an embeddings file); (driver, its db)."""
        digits, db = write_digits_embeddings(folder / "digits.npz"), folder / "results.sqlite"
        return self.coreset("sweep", "--engine", "ray", "--address", self.address, "--dataset", f"embeddings:{digits}",
                            "--score-epochs", "2", "--methods", methods, "--prune-rates", rates, "--seeds", seeds,
                            "--epochs", str(epochs), "--db", str(db), *extra, extra_env=extra_env), db

    def coreset(self, *args: str, extra_env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "coreset_core.cli", *args],
                                env={**self.env, **(extra_env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(env: dict[str, str], *args: str) -> None:
    out = subprocess.run(["ray", "start", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
                          "--disable-usage-stats", *args], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


@pytest.fixture(scope="module")
def cluster():
    root = Path(tempfile.mkdtemp(prefix="crc", dir="/tmp"))  # short: Ray's unix socket paths are limited
    token = root / "ray_token"
    token.write_text(secrets.token_hex(32))
    tag = uuid.uuid4().hex
    env = {**os.environ, **FAST_HEALTH, TAG_VAR: tag, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "CORESET_CACHE_DIR": str(root / "cache")}
    address = f"127.0.0.1:{_free_port()}"
    try:
        _ray_start(env, "--head", "--port", address.split(":")[1], "--resources", '{"node_a": 1}',
                   "--temp-dir", str(root / "ray"), "--include-dashboard", "false")
        _ray_start({**env, NODE_VAR: tag}, "--address", address, "--resources", '{"node_b": 1}')
        cluster = Cluster(address, env, tag, root)
        nodes = cluster.nodes()
        cluster.a, cluster.b = (next(nid for nid, n in nodes.items() if n["alive"] and f"node_{x}" in n["resources"])
                                for x in "ab")
        yield cluster
    finally:
        for pid, _ in tagged_processes(tag):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        left = wait_until_gone(tag, timeout=30)
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"cluster processes left behind: {left}"


def _wait_for(proc: subprocess.Popen, condition, what: str, timeout: float = 240) -> None:
    """Poll `condition()` while the driver runs; fail if it stops first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, f"no {what} within {timeout:.0f} s"
        time.sleep(0.2)


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[str, str]:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err[-3000:]
    return out, err


def test_sweep_and_features_spread_over_both_nodes_and_leave_the_cluster_running(cluster, tmp_path):
    a, b = cluster.a, cluster.b
    sweep, db = cluster.sweep(tmp_path, "random,el2n", "0.5,0.8", "0,1", 20, "--quiet")
    features = cluster.coreset("features", "--engine", "ray", "--address", cluster.address, "--dataset", "digits",
                               "--resolution", "32", "--limit", "256", "--shard-size", "64", "--extract-batch-size", "64",
                               "--split", "train", "--quiet")
    _finish(sweep)
    out, _ = _finish(features)
    rows = ResultsStore(db).to_frame()
    assert len(rows) == 10 and rows["run_id"].is_unique  # 2 methods x 2 rates x 2 seeds + full data per seed
    assert set(rows["node"]) == {a, b}, rows["node"].value_counts()
    assert "4 of 4 shard(s) extracted on Ray" in out and f"on node {a[:12]}" in out and f"on node {b[:12]}" in out
    nodes = cluster.nodes()  # the user's cluster: still up, both nodes alive, nothing of ours holds a CPU
    assert {nid for nid, n in nodes.items() if n["alive"]} == {a, b}


def test_a_sigtermed_driver_stops_within_5_s_and_the_cluster_stays(cluster, tmp_path):
    driver_tag = uuid.uuid4().hex
    proc, db = cluster.sweep(tmp_path, "random", "0.3,0.6,0.9", "0,1", 100, "--no-full", "--quiet",
                             extra_env={TAG_VAR: driver_tag})
    _wait_for(proc, lambda: db.exists() and len(ResultsStore(db)) >= 1, "a row")
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert time.monotonic() - sent < 5.0 and proc.returncode != 0
    assert wait_until_gone(driver_tag, timeout=10) == []
    nodes = cluster.nodes()
    assert all(n["alive"] for n in nodes.values()) and set(nodes) == {cluster.a, cluster.b}


def test_a_killed_worker_nodes_runs_are_retried_on_the_other_node_without_duplicates(cluster, tmp_path):
    a, b = cluster.a, cluster.b
    proc, db = cluster.sweep(tmp_path, "random,el2n", "0.5,0.8", "0,1", 100, "--no-full")
    _wait_for(proc, lambda: db.exists() and b in set(ResultsStore(db).to_frame()["node"]), "a row from node b")
    node_b = [pid for pid, _ in tagged_processes(cluster.tag) if has_env(pid, NODE_VAR, cluster.tag)]
    assert node_b
    for pid in node_b:  # the second node dies: raylet, its agents and its workers with it
        os.kill(pid, signal.SIGKILL)
    out, err = _finish(proc)
    rows = ResultsStore(db).to_frame()
    assert len(rows) == 8 and rows["run_id"].is_unique and "FAILED" not in err
    assert set(rows["node"]) == {a, b} and len(rows[rows["node"] == a]) >= 1
    deadline = time.monotonic() + 90  # Ray marks a node dead after its missed health checks, not at once
    while (alive := {nid for nid, n in cluster.nodes().items() if n["alive"]}) != {a} and time.monotonic() < deadline:
        time.sleep(2)
    assert alive == {a}


def test_a_driver_without_the_token_is_refused_with_the_token_named(cluster, tmp_path):
    env = {k: v for k, v in cluster.env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
    env["HOME"] = str(tmp_path)  # no ~/.ray/auth_token either
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "coreset_core.cli", "sweep", "--engine", "ray", "--address",
                          cluster.address, "--dataset", "digits", "--methods", "random", "--prune-rates", "0.5",
                          "--seeds", "0", "--quiet", "--db", str(tmp_path / "r.sqlite")],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and time.monotonic() - t0 < 30 + 5  # 15 s of waiting plus start-up
    assert f"the Ray cluster at {cluster.address} did not let this driver in" in out.stderr
    assert "export RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH=<the token file>" in out.stderr
